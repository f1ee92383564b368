"""Billing: balances, statements and payment links for verified patients."""
