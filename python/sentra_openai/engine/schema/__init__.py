"""JSON Schema: generating instances that validate (tool arguments, structured outputs) and checking them."""
