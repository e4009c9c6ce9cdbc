//! The one AWS SDK configuration. Region and credentials come from the standard chain (ECS task role in AWS,
//! environment locally); `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_SQS`, ...) points the SDK at moto or
//! LocalStack. Nothing here names an endpoint or a region: that is configuration.

use aws_config::{BehaviorVersion, SdkConfig};

use crate::config::ConfigError;

/// Loads the shared SDK config and checks that a region is known.
pub async fn load() -> Result<SdkConfig, ConfigError> {
    let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
    if config.region().is_none() {
        return Err(ConfigError::Missing {
            name: "AWS_REGION".into(),
            hint: "the AWS region (ECS sets it; locally use us-east-1 with moto)",
        });
    }
    Ok(config)
}
