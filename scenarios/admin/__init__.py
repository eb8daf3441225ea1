"""Course section "Additional admin concerns": security, tagging and costs."""
