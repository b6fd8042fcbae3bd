struct local_state { int count; };
