mod net;
use crate::net::tcp::connect;
// mod commented;
pub fn start() { connect(); let _ = r#"mod fake;"#; }
