"""Tests of the AI chain, breakers, guard and the /ask, /reading, /report commands."""
