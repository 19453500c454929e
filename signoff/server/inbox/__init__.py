"""The approvals inbox on the web, for people without Studio: `/inbox` on the same server.

- `session`: sign-in with the API's tokens, kept in a secure cookie;
- `queue`: which pending requests a user sees, filtered, sorted and paged;
- `decisions`: what a user may do with a request, and the answer a form makes;
- `forms`: the edit form built from an action's argument schema;
- `pages`: the routes and pages (`templates/`, `static/`), mounted by `signoff.server.app`.
"""
