"""Physics building blocks shared by tasks: PDF evolution (eko) and reference PDFs."""
