"""Staff access control: accounts, sign-in, server-side sessions, CSRF, widget origins."""
