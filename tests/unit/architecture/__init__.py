"""Unit tests of the import contract, the settings object and the clock."""
