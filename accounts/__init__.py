"""Accounts: sign-up, login, profile, ARCO, institutions and memberships, API tokens."""
