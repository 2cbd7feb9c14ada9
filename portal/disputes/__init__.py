"""Portal pages: disputes."""
