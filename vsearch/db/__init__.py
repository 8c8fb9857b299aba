"""The library database: schema, engine, migrations and small query functions."""
