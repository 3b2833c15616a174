"""What tagging costs on Google Cloud: the cost model and its priced inputs."""
