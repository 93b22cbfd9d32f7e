"""One subpackage or module per connection kind; `connectors.registry` imports them lazily."""
