import ScalewiseEngine
print("scalewise")
