# A stand-in application for tests: the tools a user types in the seed
# document (ip, ping, curl, dig) and python3 for a small web server.
FROM debian:bookworm-slim
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      iproute2 iputils-ping curl dnsutils python3 \
 && rm -rf /var/lib/apt/lists/*
CMD ["sleep", "infinity"]
