"""Portal pages: usage."""
