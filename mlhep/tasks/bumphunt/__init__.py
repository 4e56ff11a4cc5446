"""bump-hunt: weakly supervised resonance search (CWoLa hunting, ANODE, CATHODE) ending in a significance."""
