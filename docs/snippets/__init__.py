"""Code shown in the guide, included from here and run by tests/interop/test_docs.py."""
