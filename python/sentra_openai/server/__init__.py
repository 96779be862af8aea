"""The Robyn adapter: routes every request into the engine and writes its Outcome back. No OpenAI rules here."""
