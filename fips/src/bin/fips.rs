fn main() {
    eprintln!("fips: not yet implemented");
    std::process::exit(1);
}
