// Small behaviours that work without inline script (the CSP forbids it).
