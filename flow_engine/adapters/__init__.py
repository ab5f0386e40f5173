"""The runtime's ports implemented over Frappe and ERPNext (the only modules here that act)."""
