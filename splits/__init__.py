"""Split specs, builders, leakage checks, frozen exports and their verification."""
