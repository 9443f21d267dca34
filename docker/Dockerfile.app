# A stand-in application for tests: the tools a user types in the seed
# document (ip, ping, curl, dig) and python3 for a small web server.
FROM debian:bookworm-slim
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      iproute2 iputils-ping curl dnsutils python3 libcap2-bin \
 && setcap -r /usr/bin/ping \
 && rm -rf /var/lib/apt/lists/*
# The app runs without CAP_NET_RAW, so a ping carrying the file capability
# cap_net_raw could not even be executed: without it, ping uses ICMP
# datagram sockets, which net.ipv4.ping_group_range allows.
CMD ["sleep", "infinity"]
