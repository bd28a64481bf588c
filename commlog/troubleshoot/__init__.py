"""Troubleshooting for one email address: the answers to "why didn't they get it?"."""
