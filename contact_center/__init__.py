"""contact_center."""
