"""Streaming-engine defects found by review (issue "Scale"); each test failed before its fix."""
