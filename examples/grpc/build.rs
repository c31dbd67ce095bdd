//! Compiles `proto/shop.proto` with tonic-prost-build (it runs `protoc`: Debian's
//! `protobuf-compiler`, which scripts/setup.sh installs; `PROTOC` names another).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tonic_prost_build::compile_protos("proto/shop.proto")?;
    Ok(())
}
