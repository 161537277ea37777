//! Operator secrets in AWS Secrets Manager, each named `{prefix}{name}` (the template scopes
//! the functions' read access to that prefix).

use async_trait::async_trait;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, SdkError};
use aws_sdk_secretsmanager::Client;

use super::{OperatorSecrets, SecretsError};

/// Operator secrets under one name prefix.
#[derive(Clone)]
pub struct SecretsManager {
    client: Client,
    prefix: String,
}

impl SecretsManager {
    /// Secrets named `{prefix}{name}`.
    pub fn new(client: Client, prefix: impl Into<String>) -> Self {
        Self {
            client,
            prefix: prefix.into(),
        }
    }

    fn id(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}

fn unavailable<E, R>(error: SdkError<E, R>) -> SecretsError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    SecretsError::Unavailable(DisplayErrorContext(&error).to_string())
}

#[async_trait]
impl OperatorSecrets for SecretsManager {
    async fn get(&self, name: &str) -> Result<Option<String>, SecretsError> {
        match self
            .client
            .get_secret_value()
            .secret_id(self.id(name))
            .send()
            .await
        {
            Ok(output) => Ok(output.secret_string().map(str::to_owned)),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(error) => Err(unavailable(error)),
        }
    }

    async fn put(&self, name: &str, value: &str) -> Result<(), SecretsError> {
        let id = self.id(name);
        match self
            .client
            .put_secret_value()
            .secret_id(&id)
            .secret_string(value)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                self.client
                    .create_secret()
                    .name(id)
                    .secret_string(value)
                    .send()
                    .await
                    .map_err(unavailable)?;
                Ok(())
            }
            Err(error) => Err(unavailable(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn secrets_manager_meets_the_port_contract() {
        let Some(aws) = crate::testing::moto().await else {
            return;
        };
        let prefix = format!("hookrail-test-{}/", ulid::Ulid::new());
        let secrets = SecretsManager::new(Client::new(&aws.config), prefix);
        super::super::contract::run_all(&secrets, "aws").await;
    }
}
