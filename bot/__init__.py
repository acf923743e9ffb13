"""madoguchi: domain logic for the hikikomori intake assistant (no TensorFlow imports here)."""
