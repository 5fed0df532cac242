"""`sam local invoke` / `sam local start-api` on the built artifact (README: "The SAM way")."""
