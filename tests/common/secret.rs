//! A directory laid out as kubelet mounts a Secret, and updated as kubelet updates it.

use std::os::unix::fs::symlink;
use std::path::PathBuf;

/// `<key> -> ..data/<key>` and `..data -> ..<version>/`. An update writes a new version directory,
/// points a new symlink at it and renames that over `..data`: readers see the old file or the new
/// one, never a half-written one, and the path of `<key>` itself never changes.
pub struct SecretDir {
    dir: PathBuf,
    key: String,
    version: u32,
}

impl SecretDir {
    pub fn new(key: &str, value: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "shipshape-secret-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut secret = SecretDir {
            dir,
            key: key.to_owned(),
            version: 0,
        };
        secret.update(value);
        symlink(format!("..data/{key}"), secret.path()).unwrap();
        secret
    }

    /// The path the application is given.
    pub fn path(&self) -> PathBuf {
        self.dir.join(&self.key)
    }

    pub fn path_str(&self) -> String {
        self.path().display().to_string()
    }

    pub fn update(&mut self, value: &str) {
        self.version += 1;
        let version = format!("..v{}", self.version);
        std::fs::create_dir(self.dir.join(&version)).unwrap();
        std::fs::write(self.dir.join(&version).join(&self.key), value).unwrap();
        let tmp = self.dir.join("..data_tmp");
        symlink(&version, &tmp).unwrap();
        std::fs::rename(&tmp, self.dir.join("..data")).unwrap();
        if self.version > 1 {
            let old = self.dir.join(format!("..v{}", self.version - 1));
            std::fs::remove_dir_all(old).unwrap();
        }
    }
}

impl Drop for SecretDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
