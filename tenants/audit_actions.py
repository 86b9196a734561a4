"""What the People changes mean in the audit log, in words (`tenants.audit`)."""

DESCRIPTIONS = {
    "people.added": "Gave {username} the {outcome} role",
    "people.role_changed": "Changed {username}'s role from {previous} to {outcome}",
    "people.removed": "Took {username} ({outcome}) out of the tenant",
    "people.password_replaced": "Replaced {username}'s password (platform operator)",
}
