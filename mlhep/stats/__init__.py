"""Statistics shared by every task: covariance matrices, the chi2 (Cholesky whitening) and Monte Carlo
pseudo-data."""
