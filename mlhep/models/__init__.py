"""Small neural networks shared by tasks."""
