//! The key port's contract, through the sealer every caller uses.

use std::sync::Arc;

use super::{EncryptionContext, KeyVault, Sealer, VaultError};

/// Runs every contract case against `vault`.
pub(crate) async fn run_all(vault: Arc<dyn KeyVault>) {
    let sealer = Sealer::new(Arc::clone(&vault));
    let mine = EncryptionContext::integration("tnt_a", "int_1");
    let theirs = EncryptionContext::integration("tnt_b", "int_1");

    let sealed = sealer.seal_str(&mine, "s3cret").await.expect("seal");
    assert!(!sealed.ct.contains("s3cret"));
    assert_eq!(
        sealer.open_str(&mine, &sealed).await.expect("open"),
        "s3cret"
    );

    let fresh = Sealer::new(Arc::clone(&vault));
    assert!(matches!(
        fresh.open_str(&theirs, &sealed).await,
        Err(VaultError::Denied)
    ));

    let mut tampered = sealed.clone();
    tampered.ct = tampered.ct.replace(&tampered.ct[..2], "AA");
    assert!(fresh.open_str(&mine, &tampered).await.is_err());

    let other = sealer.seal_str(&mine, "s3cret").await.expect("seal again");
    assert_ne!(other.key, sealed.key, "every secret gets its own data key");
}
