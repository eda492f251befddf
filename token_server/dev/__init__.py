"""What production never runs: the dev-mode guard, the test JWT issuer, the demo page and its trace."""
