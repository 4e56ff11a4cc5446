"""Statistics shared by every task: covariance matrices and Monte Carlo pseudo-data."""
