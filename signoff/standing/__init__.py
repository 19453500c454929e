"""Standing approvals and delegations, kept signed in the deployment's own store.

- `grants`: what a grant is, who may grant what, whether one covers a request, and budgets
  (pure);
- `delegations`: making and revoking delegations (pure; the shape and what a delegate may
  decide are `signoff.governance.delegation`'s);
- `signing`: the server's signature on every standing record;
- `store`: the records in a `BaseStore`, and `use_grant`, which a review node calls to let a
  live grant approve a request and spend its budget exactly once;
- `manage`: granting, listing and revoking as a signed-in person (the API, the inbox).
"""
