"""Lightning callbacks: sample grids (and later EMA and periodic evaluation)."""
