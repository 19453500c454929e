"""The approvals inbox on the web, for people without Studio: `/inbox` on the same server.

- `session`: sign-in with the API's tokens, kept in a secure cookie;
- `queue`: which pending requests a user sees, filtered, sorted (by age, deadline or amount)
  and paged;
- `decisions`: what a user may do with a request, and the answer a form makes;
- `bulk`: approving or rejecting several requests checked in the list, each on its own;
- `forms`: the edit form built from an action's argument schema;
- `display`: how a request is shown (summary first, tool titles, the conversation behind a
  tool call), whatever its checkpoint holds;
- `pages`: the routes and pages (`templates/`, `static/`), mounted by `signoff.server.app`.
"""
