"""Offline synth: the program under Pulumi mocks, written out as a reviewable manifest."""
