//! convo's integration tests, one binary, a module per area. PostgreSQL tests use the real
//! server (CONVO_TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres), each
//! in a database of its own (dropped at the end, also when the test panics), and fail loudly when
//! it is unreachable: they never skip.

mod analytics;
mod attributes;
mod bad_input;
mod bus;
mod consistency;
mod contacts;
mod contacts_read;
mod contract;
mod directory;
mod edges;
mod export;
mod faults;
mod gateway;
mod groups;
mod history;
mod http;
mod labels;
mod leases;
mod lists;
mod model;
mod notes;
mod postgres_log;
mod read_models;
mod schemas;
mod support;
mod tenancy;
mod units;
mod upstream;
mod versions;
mod webhooks;
mod webhooks_api;
mod webhooks_secrets;
