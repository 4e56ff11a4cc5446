"""jet-tag: boosted top vs QCD jet tagging (issue 10).

Data side: ``sample`` (the reference sample's recipe as Pythia settings), ``pythia_events``, ``truth``,
``detector``, ``clustering``, ``chunk`` and ``production`` (generation, driven by ``scripts/generate_jets.py``),
``h5io`` (the generated files), ``reference`` (the reference sample's own files), ``load`` (either layout);
features for the models: ``highlevel``, ``nsubjettiness``, ``images``, ``particles``.
"""
