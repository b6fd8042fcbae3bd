use super::super::start;
pub fn connect() {}
