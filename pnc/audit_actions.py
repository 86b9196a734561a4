"""What Plug & Charge's audit actions mean, in words (`tenants.audit`)."""

DESCRIPTIONS = {
    "contract.authorized": "Contract {emaid} authorized for client {client}",
    "contract.certificate_issued": "Issued the contract certificate of {emaid}",
    "contract.certificate_renewed": "Renewed the contract certificate of {emaid} ({why})",
    "contract.revoked": "Revoked contract {emaid} ({reason})",
    "contract.expired": "Contract {emaid} expired ({reason})",
    "approval.withdrawn": "The driver withdrew an approval for client {client}",
    "ca.initialised": "Created the MO PKI; {sub-ca-2} issues",
    "ca.imported": "Imported the MO PKI; {sub-ca-2} issues",
    "ca.rolled_over": "Rolled over the MO PKI at {level} ({outcome}); new {sub-ca-2}",
    "ca.activated": "Activated {subject} (key {key_id}) for issuing",
    "ca.retired": "Retired {subject} (key {key_id})",
}
