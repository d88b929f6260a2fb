//! Hosted payin pages (API.md §11.2): filled in by the hosted-pages work.
