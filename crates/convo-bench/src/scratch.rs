//! Scratch databases beside the one named by the URL: created per measurement, dropped after.

use anyhow::Context;
use sqlx::Connection;

pub struct ScratchDb {
    pub url: String,
    admin_url: String,
    name: String,
}

impl ScratchDb {
    /// `CREATE DATABASE convo_bench_<random>_<purpose>` and its URL.
    pub async fn create(admin_url: &str, purpose: &str) -> anyhow::Result<Self> {
        let mut conn = sqlx::PgConnection::connect(admin_url)
            .await
            .with_context(|| format!("connecting to PostgreSQL at {admin_url}"))?;
        let name = format!("convo_bench_{:08x}_{purpose}", fastrand::u32(..));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .with_context(|| format!("creating the scratch database {name}"))?;
        let server = admin_url.rsplit_once('/').map(|(server, _)| server).context("the URL names no database")?;
        Ok(Self { url: format!("{server}/{name}"), admin_url: admin_url.to_owned(), name })
    }

    /// Drops the database, closing whatever still uses it; a failure is reported, not fatal.
    pub async fn drop_db(self) {
        let dropped = async {
            let mut conn = sqlx::PgConnection::connect(&self.admin_url).await?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).execute(&mut conn).await
        };
        if let Err(e) = dropped.await {
            eprintln!("could not drop the scratch database {}: {e}", self.name);
        }
    }
}
