fn main() -> anyhow::Result<()> {
    anyhow::bail!("xtask: no task yet")
}
