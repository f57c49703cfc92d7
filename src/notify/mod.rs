//! Delivery channels: how a message leaves Rota. Each channel turns a stored row into the
//! protocol's message and sends it; what is due and what happens after a failure is decided
//! in `jobs/`, and the rows live in `store/`.

pub mod email;
